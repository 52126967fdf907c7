"""Quick replies: canned messages per organisation or division, with per-agent favourites."""
