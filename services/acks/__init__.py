"""Acknowledgements: recipients confirm, signed with their own secret; acks are recorded and published."""
