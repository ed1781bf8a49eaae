"""evofarm workers: thin Celery tasks that call into evofarm."""
