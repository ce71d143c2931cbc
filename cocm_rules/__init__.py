"""cocm_rules: clinical decision rules for Collaborative Care registries."""
