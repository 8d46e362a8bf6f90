const REQUIREMENT_LABELS: Record<string, string> = {
  external_account: "Bank account for payouts",
  "business_profile.url": "Business website",
  "business_profile.mcc": "Business category",
  "business_profile.product_description": "What your business sells",
  business_type: "Business type",
  "tos_acceptance.date": "Acceptance of Stripe's terms",
  "tos_acceptance.ip": "Acceptance of Stripe's terms",
  "individual.verification.document": "Identity document",
  "individual.id_number": "ID number",
  "individual.ssn_last_4": "Last 4 digits of SSN",
  "individual.dob.day": "Date of birth",
  "individual.dob.month": "Date of birth",
  "individual.dob.year": "Date of birth",
  "individual.first_name": "First name",
  "individual.last_name": "Last name",
  "individual.email": "Email",
  "individual.phone": "Phone number",
  "company.tax_id": "Company tax ID",
  "company.name": "Company name",
};

/** A Stripe requirement (`individual.address.city`) in words, e.g. "Individual: address city". */
export function describeRequirement(field: string): string {
  const known = REQUIREMENT_LABELS[field];
  if (known) return known;
  const [head, ...rest] = field.split(".");
  const words = (part: string) => part.replaceAll("_", " ");
  const first = words(head ?? field);
  const title = first.charAt(0).toUpperCase() + first.slice(1);
  return rest.length ? `${title}: ${rest.map(words).join(" ")}` : title;
}

/** Requirement labels without repeats, in the order Stripe listed the fields. */
export function describeRequirements(fields: readonly string[]): string[] {
  return [...new Set(fields.map(describeRequirement))];
}
