"""The numbers: the cube of sessions by day and cell, rates and tests, leaks, takeaways and the
SessionModel that answers filters from them. Never draws."""
