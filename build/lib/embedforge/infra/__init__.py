"""Operations beside the files they manage: local-stack supervision and deployment registration."""
