"""Two-factor authentication (TOTP with single-use recovery codes), built on django-otp.

Rules and reads are in `services.py` and `selectors.py`; `views.py` holds the pages under
/accounts/two-factor/; `middleware.py` and `authentication.py` keep an account that has not passed
its second factor out of the pages and out of the session-authenticated API. See docs/security.md.
"""
