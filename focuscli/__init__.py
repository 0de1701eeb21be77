"""focus: a shared focus timer for remote teams, on Firebase Realtime Database."""

__version__ = "0.1.0"
