"""The agent web app: static HTML, CSS and ES modules (no build step), served at `/`."""
