//! Swedish personal identity numbers (personnummer) and coordination numbers (samordningsnummer).
