"""Who signs in through single sign-on: the identity provider's (issuer, subject) of each SSO user.

A user found by the provider's stable subject, never by a username the provider asserts: a provider account
named "admin" must not become the console's local break-glass "admin" (portal/sso.py)."""

from django.conf import settings
from django.db import models


class SingleSignOnIdentity(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_identity"
    )
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "single sign-on identity"
        verbose_name_plural = "single sign-on identities"
        constraints = [
            # The sign-in lookup: one console user per provider subject.
            models.UniqueConstraint(fields=["issuer", "subject"], name="sso_identity_subject_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.subject} at {self.issuer}"
