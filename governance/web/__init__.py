"""Server-rendered pages for people who do not use the API (jinja2 templates in templates/)."""
