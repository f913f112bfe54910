"""Django's SQLite backend, its write transactions taking turns between processes (base.py)."""
