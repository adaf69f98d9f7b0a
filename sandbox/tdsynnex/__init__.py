"""TD SYNNEX StreamOne Ion sandbox."""
