"""Composition root: the Flask app and its Celery app (`make run` serves the micro profile)."""

from app import create_app

if __name__ == "__main__":
    # `make run`: the micro profile from the environment alone, never the stack `make up`
    # recorded (whose database and data folder are the full profile's).
    import sys

    from app.config import micro_environment
    from app.micro import serve

    try:
        settings = micro_environment()
    except ValueError as exc:
        sys.exit(f"run.py: {exc}")
    serve(create_app(settings))
else:
    app = create_app()
    celery_app = app.extensions["celery"]
