"""marshmallow schemas of what clients send."""
