"""Rules several features share, owned by none of them: handles, URLs and text, money."""
