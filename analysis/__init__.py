"""Pure functions from a sweep's point directories to tidy tables, figures and claims."""
