"""Composition root: the Flask app and its Celery app (`make run` serves the micro profile)."""

from app import create_app

app = create_app()
celery_app = app.extensions["celery"]

if __name__ == "__main__":
    from app.micro import serve

    serve(app)
