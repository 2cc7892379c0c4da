"""The Xinyi service kit: what every service needs, wired the same way everywhere."""
