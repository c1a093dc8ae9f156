"""Users: the custom user model (from the first migration), the role groups
(operations, compliance) and the named system actor, all created by migrations."""
