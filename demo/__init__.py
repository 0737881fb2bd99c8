"""The demo: a support inbox of realistic mails (``demo/mail``) and the script that prepares it."""
