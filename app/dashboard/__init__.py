"""The dashboard's pages (server-rendered): accounts and apps."""
