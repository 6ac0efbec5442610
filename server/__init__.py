"""Vitrine: a storefront that adapts to who each shopper is shopping as."""
