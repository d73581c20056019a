"""What is kept in the database: engines and migrations, the schema, the event store, the catalogue, the model
registry, training runs."""

__all__ = ["db", "schema", "ids", "events", "items", "registry", "runs", "operations", "dead_letters", "history", "user_states"]
