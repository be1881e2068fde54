"""The clinical core: medications, knowledge, the interaction check and the cards.

What lives here and what it may import: README.md beside this file."""
