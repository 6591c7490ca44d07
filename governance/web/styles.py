"""The pages' stylesheet, served from /assets/site.css (a file, so the CSP needs no inline styles)."""

SITE_CSS = """\
body { font-family: system-ui, sans-serif; max-width: 48rem; margin: 2rem auto; padding: 0 1rem;
       color: #1b1b1b; }
header { display: flex; justify-content: space-between; align-items: baseline;
         border-bottom: 1px solid #ccc; }
header h1 { font-size: 1.4rem; }
header h1 a { color: inherit; text-decoration: none; }
.who { font-size: 0.95rem; }
.notice { padding: 0.75rem 1rem; border-left: 4px solid #b00020; background: #fdf0f2; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.25rem 1rem; }
dt { font-weight: 600; }
dd { margin: 0; }
"""
