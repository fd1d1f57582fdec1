"""`ftctl init`: a workspace and a starter project that validate as they are."""
