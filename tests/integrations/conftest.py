"""The email tests' Dovecot and loopback fixtures, for the email integration API tests."""

from tests.channels.email.conftest import dovecot, mail_user, private  # noqa: F401
