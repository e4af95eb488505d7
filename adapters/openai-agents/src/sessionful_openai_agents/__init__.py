"""OpenAI Agents SDK adapter for sessionful."""
