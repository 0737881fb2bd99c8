"""The ticket workflow: every mail becomes a ticket whose state is persisted at each step."""
