"""The hotline (issue 9): inbound routing, agents, call records, callbacks, transfer, supervision."""
