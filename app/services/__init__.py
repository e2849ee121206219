"""Plain functions over the database and Redis, shared by the web and task layers."""
