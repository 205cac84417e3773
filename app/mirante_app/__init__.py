"""mirante's sample service: a FastAPI app that honours the stack's observability contract."""
