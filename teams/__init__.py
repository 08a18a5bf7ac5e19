"""Teams, memberships and roles, per-project role overrides, invitations and the audit
log. Who may see or change what is decided in one place, ``experiments.selectors``,
which reads these tables."""
