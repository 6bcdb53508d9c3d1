"""SQLite for several processes sharing one file (web, worker, beat): see base.py."""
