"""How versions are served: hot-swapping deep versions, the blend with the online scores, exploration, canary
outcomes."""

__all__ = ["ask", "mix", "hotswap", "blend", "blend_tuner", "filters", "explain", "similar", "new_items", "explore", "recipe", "abtest"]
