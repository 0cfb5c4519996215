"""`clonekit telegram`: the clone on Telegram (allow list, journal, bot loop, backends)."""
