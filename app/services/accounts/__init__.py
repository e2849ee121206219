"""Dashboard accounts: users, codes, and throttling of login and code attempts."""
