"""The service layer, over the SDK: what ``sessionful serve`` and the command line run.

* :mod:`sessionful.service.config`: :class:`~sessionful.service.config.Settings` from TOML and
  ``SESSIONFUL_*`` variables (extra ``cli`` or ``server``);
* :mod:`sessionful.service.app`: :class:`~sessionful.service.app.AgentService`, configured agents
  answering in a principal's name, with its limits and turn timeouts (the limits' checks in
  :mod:`sessionful.service.limits`, what it answers about sessions in
  :mod:`sessionful.service.views`; both re-exported from ``app``);
* :mod:`sessionful.service.membership` and :mod:`sessionful.service.affinity`: several instances
  on one PostgreSQL store, and who owns which session;
* :mod:`sessionful.service.http`: the HTTP app (extra ``server``).

A layer uses only the one below it: nothing here reaches into a store or a strategy; the
:class:`~sessionful.SessionManager` offers what the service needs. This package imports nothing
itself, so each module needs only its own extra.
"""
