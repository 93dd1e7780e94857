"""Connected accounts, KYC onboarding and the payout page."""
