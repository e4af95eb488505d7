"""A platform gateway's side of the HTTP service: create a session, hold a short conversation,
stream one reply, read the session back, end it.

It starts nothing itself; point it at a running service and give it an API key:

    sessionful serve                                  # in one terminal
    python examples/gateway_client.py http://127.0.0.1:8000 KEY [--agent customer-service-bot]

Only httpx is needed. The tests run it against a real server (tests/test_server.py).
"""

from __future__ import annotations

import argparse
import json
import sys

import httpx


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base_url", help="the service, e.g. http://127.0.0.1:8000")
    parser.add_argument("api_key", help="a key from the service's [auth] api_keys")
    parser.add_argument("--agent", default="customer-service-bot", help="an agent id")
    args = parser.parse_args(argv)

    headers = {"Authorization": f"Bearer {args.api_key}"}
    with httpx.Client(base_url=args.base_url, headers=headers, timeout=60.0) as client:
        created = client.post(f"/v1/agents/{args.agent}/sessions")
        if created.status_code != 201:
            print(f"cannot create a session: {created.status_code} {created.text}")
            return 1
        session_id = created.json()["session_id"]
        print(f"session {session_id} ({len(session_id)} characters, server-generated)")
        turns = f"/v1/agents/{args.agent}/sessions/{session_id}/messages"

        for text in ("Hello", "What's my order status?"):
            reply = client.post(turns, json={"messages": [{"role": "user", "content": text}]})
            reply.raise_for_status()
            turn = reply.json()
            answer = turn["messages"][-1]["content"]
            print(f"[{turn['instance_event']:8}] user: {text}")
            print(f"           agent: {answer}")

        # The same turn as server-sent events: chunks as they come, then `event: done`.
        print("[stream  ] user: Thanks!")
        print("           agent: ", end="")
        body = {"messages": [{"role": "user", "content": "Thanks!"}]}
        with client.stream("POST", f"{turns}/stream", json=body) as events:
            event = "message"
            for line in events.iter_lines():
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    data = json.loads(line.removeprefix("data: "))
                    if event == "message":
                        print(data["content"], end="", flush=True)
                    elif event == "done":
                        print(f"\n           (done: {data['stats']['turn_count']} turns)")
                    elif event == "error":
                        print(f"\n           error: {data['error']['message']}")
                    # `stream_event` (an agent's typed events) and `interrupt`: not shown here
                    event = "message"

        shown = client.get(f"/v1/agents/{args.agent}/sessions/{session_id}").json()
        print(f"history: {len(shown['history'])} messages, loaded={shown['loaded']}")
        listed = client.get("/v1/sessions", params={"limit": 100}).json()
        mine = [s["session_id"] for s in listed["sessions"]]
        print(f"listed: {'yes' if session_id in mine else 'no'}")
        ended = client.delete(f"/v1/agents/{args.agent}/sessions/{session_id}").json()
        print(f"ended: deleted {ended['deleted']}")
        gone = client.get(f"/v1/agents/{args.agent}/sessions/{session_id}")
        print(f"afterwards: {gone.status_code} {gone.json()['error']['code']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
