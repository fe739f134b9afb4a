"""What management commands share."""

import getpass


def os_user() -> str:
    """Who ran a management command, as far as the operating system knows (recorded in the audit details of
    every command that acts, since no console user is signed in)."""
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry and no LOGNAME in a minimal container
        return ""
