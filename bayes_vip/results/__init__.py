"""Results layer: records, figures and the terminal rendering of every command."""
