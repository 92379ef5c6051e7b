"""post_service: posts, and the saga that attaches media to them."""
