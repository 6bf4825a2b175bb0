"""Helpers with no mumap imports: seeding, atomic writes, plotting."""
