"""The Cohere connectors API over httpx: the client (complete pagination, retries, rate limit,
deadlines, create-outcome recovery), answers read strictly, and the registration test run now."""
