"""Loading: files, folders, archives and warehouse tables into the canonical session table, every row
accounted for (schema.py is the contract)."""
