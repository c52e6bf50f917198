declare module 'petrovich' {
  type Gender = 'male' | 'female' | 'androgynous';
  type Case = 'nominative' | 'genitive' | 'dative' | 'accusative' | 'instrumental' | 'prepositional';
  type Inflector = Record<Case, (name: string) => string>;
  interface Petrovich {
    (
      person: { gender?: Gender; first?: string; middle?: string; last?: string },
      gcase: Case,
    ): {
      gender: Gender;
      first?: string;
      middle?: string;
      last?: string;
    };
    detect_gender(middle: string): Gender;
    male: { first: Inflector; middle: Inflector; last: Inflector };
    female: { first: Inflector; middle: Inflector; last: Inflector };
    androgynous: { first: Inflector; middle: Inflector; last: Inflector };
  }
  const petrovich: Petrovich;
  export default petrovich;
}
