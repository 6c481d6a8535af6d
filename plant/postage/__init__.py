"""Postage: tracking-id allocation (:mod:`.ids`), each piece's sheets and mass (:mod:`.pieces`), the signed
postage marks and their states (:mod:`.marks`), and the check of a mark at the acceptance counter
(:mod:`.acceptance`)."""
