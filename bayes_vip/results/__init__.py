"""Results layer: plots and reports of the analyses."""
