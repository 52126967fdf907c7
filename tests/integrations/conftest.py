"""The email tests' Dovecot, SMTP server and loopback fixtures, for the email integration API
tests."""

from tests.channels.email.conftest import dovecot, mail_user  # noqa: F401
from tests.channels.email.smtp_server import smtp_fixture  # noqa: F401
from tests.private_urls import private_fixture  # noqa: F401
